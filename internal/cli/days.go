package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// daysValue is a duration flag that also takes whole days ("30d"), the unit
// people think of certificate lifetimes in; Go's durations stop at hours.
type daysValue time.Duration

func (d *daysValue) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 36500 {
			return fmt.Errorf("%q: use whole days such as 30d, or a duration such as 720h", s)
		}
		*d = daysValue(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q: use whole days such as 30d, or a duration such as 720h", s)
	}
	*d = daysValue(v)
	return nil
}

func (d *daysValue) String() string {
	v := time.Duration(*d)
	if v%(24*time.Hour) == 0 {
		return strconv.Itoa(int(v/(24*time.Hour))) + "d"
	}
	return v.String()
}

func (d *daysValue) Type() string { return "days" }
