package cli

import (
	"errors"
	"fmt"

	"github.com/finessectl/finessectl/internal/finesse"
)

// exitError carries an exit code up to Main. With a nil Err nothing more is
// printed: the report has already said everything.
type exitError struct {
	Code finesse.Code
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// usageError is a mistake in how finessectl was called (exit 64).
func usageError(format string, args ...any) error {
	return &exitError{Code: finesse.Usage, Err: fmt.Errorf(format, args...)}
}

// exitCode maps any error returned by a command to the contract. Errors that
// are not ours come from cobra's own argument handling: usage errors.
func exitCode(err error) finesse.Code {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return finesse.Usage
}
