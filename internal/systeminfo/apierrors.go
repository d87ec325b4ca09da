package systeminfo

// APIError is one <ApiError> of Finesse's error body.
type APIError struct {
	Type    string `json:"type,omitempty"`
	Message string `json:"message,omitempty"`
	Data    string `json:"data,omitempty"`
}

// ParseAPIErrors parses Finesse's error body:
//
//	<ApiErrors><ApiError><ErrorType/><ErrorMessage/><ErrorData/></ApiError></ApiErrors>
//
// Element names are matched without regard to case, because pubsub
// notifications spell them apiErrors, apiError, errorType. Values are
// trimmed and not sanitized. A document of any other shape gives an error
// wrapping ErrUnusable; an <ApiErrors/> with no <ApiError> gives an empty list.
func ParseAPIErrors(data []byte) ([]APIError, error) {
	errs, err := parseAPIErrors(data)
	if err != nil {
		return nil, unusable(err)
	}
	return errs, nil
}

func parseAPIErrors(data []byte) ([]APIError, error) {
	d, err := openRoot(data, "ApiErrors")
	if err != nil {
		return nil, err
	}
	var errs []APIError
	err = eachChild(d, func(name string) error {
		if name != "apierror" {
			return skip(d)
		}
		var e APIError
		err := textFields(d, map[string]*string{"errortype": &e.Type, "errormessage": &e.Message, "errordata": &e.Data})
		errs = append(errs, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := expectEnd(d); err != nil {
		return nil, err
	}
	return errs, nil
}
