package systeminfo

// APIError is one <ApiError> of Finesse's error body.
type APIError struct {
	Type    string `json:"type,omitempty"`
	Message string `json:"message,omitempty"`
	Data    string `json:"data,omitempty"`
}

// parseAPIErrors parses Finesse's error body:
//
//	<ApiErrors><ApiError><ErrorType/><ErrorMessage/><ErrorData/></ApiError></ApiErrors>
//
// Element names are matched without regard to case, because pubsub
// notifications spell them apiErrors, apiError, errorType. Values are
// trimmed and not sanitized. A document of any other shape is an error; an
// <ApiErrors/> with no <ApiError> gives an empty list.
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
