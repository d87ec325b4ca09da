package exporter

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
)

// accounts holds, per probe account, the login in flight and the
// authentication failure remembered. Every check of every scrape with one
// account takes its turn here, whatever target or cluster it checks, so a
// storm of scrapes makes one login at a time, and a rejected password is
// known before the next login is tried.
type accounts struct {
	mu   sync.Mutex
	byID map[string]*account
}

type account struct {
	turn   chan struct{} // holds a token while a login is in flight
	users  int           // gates holding or waiting for a turn
	failed *authFailure
}

// authFailure is a login the server rejected.
type authFailure struct {
	subject string
	at      time.Time
}

// gate is check.LoginGate for the checks of one scrape.
type gate struct {
	accts   *accounts
	id      string
	user    string
	subject string
	changed time.Time // when the files the credentials came from last changed
	logf    func(string, ...any)
	refused bool // guarded by accts.mu
}

// gate returns the login gate of p's checks; nil when they do not log in.
func (a *accounts) gate(p Probe, subject string, logf func(string, ...any)) *gate {
	id := credentials(p.Options)
	if id == "" {
		return nil
	}
	return &gate{accts: a, id: id, user: p.Options.User, subject: subject, changed: p.CredentialsChanged, logf: logf}
}

func (g *gate) Begin(ctx context.Context) error {
	a := g.accts
	a.mu.Lock()
	acct := a.byID[g.id]
	if acct == nil {
		acct = &account{turn: make(chan struct{}, 1)}
		a.byID[g.id] = acct
	}
	acct.users++
	a.mu.Unlock()

	select {
	case acct.turn <- struct{}{}:
	case <-ctx.Done():
		a.leave(g.id, acct)
		return fmt.Errorf("waiting for another check's login as %q to finish: %w", g.user, ctx.Err())
	}
	a.mu.Lock()
	f := acct.failed
	if f != nil && g.changed.After(f.at) {
		f, acct.failed = nil, nil // the files changed since: the password may be fixed
	}
	if f != nil {
		g.refused = true
	}
	a.mu.Unlock()
	if f != nil {
		<-acct.turn
		a.leave(g.id, acct)
		g.logf("%s: not logging in as %q: it failed authentication on %s at %s (exit %d); "+
			"fix the password and rewrite the password file or the config file, or restart, to try again",
			g.subject, g.user, f.subject, f.at.Format(time.RFC3339), finesse.XMPPAuthFailed)
		return fmt.Errorf("%w: user %q failed authentication on %s at %s, and is not tried again "+
			"until the config file or the password file changes, or finessectl serve restarts "+
			"(Finesse locks an account after five bad passwords)", check.ErrLoginRefused, g.user, f.subject, f.at.Format(time.RFC3339))
	}
	return nil
}

func (g *gate) End(rejected bool) {
	a := g.accts
	a.mu.Lock()
	acct := a.byID[g.id] // still there: this login counts among its users
	if rejected {
		acct.failed = &authFailure{subject: g.subject, at: time.Now()}
	}
	a.mu.Unlock()
	<-acct.turn
	a.leave(g.id, acct)
}

func (g *gate) wasRefused() bool {
	g.accts.mu.Lock()
	defer g.accts.mu.Unlock()
	return g.refused
}

// leave drops acct when nobody uses it and it remembers nothing.
func (a *accounts) leave(id string, acct *account) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct.users--
	if acct.users == 0 && acct.failed == nil {
		delete(a.byID, id)
	}
}

// credentials identifies the account a check logs in with; "" when it does
// not log in. A hash, so that no map holds one more copy of the password.
func credentials(o check.Options) string {
	if o.ConnectOnly {
		return ""
	}
	sum := sha256.Sum256([]byte(o.User + "\x00" + o.Password))
	return string(sum[:])
}
