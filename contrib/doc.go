// Package contrib holds no code: it tests the monitoring and CI definitions in contrib/ (Icinga 2, Nagios, GitLab CI, GitHub Actions).
package contrib
