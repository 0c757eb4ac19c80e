package uspsbiz

// Unexported functions the external tests exercise directly.

// CheckPaymentRequest is AuthorizePayment's role check.
func CheckPaymentRequest(r PaymentRequest) error { return r.check() }

// DecodeErrorBody is decodeErrorBody.
func DecodeErrorBody(body []byte) *APIError { return decodeErrorBody(body) }

// NewDecodeError returns the error of a 2xx body that does not decode.
func NewDecodeError(route string, status int, err error) error {
	return &decodeError{Route: route, Status: status, Err: err}
}

// ErrNoCredentials is errNoCredentials.
var ErrNoCredentials = errNoCredentials
