package uspsbiztest

// AddBusinessAccount exposes addBusinessAccount to the external tests.
func (s *Server) AddBusinessAccount(a BusinessAccount) { s.addBusinessAccount(a) }

// The invented USPS codes, for the external tests.
const (
	CodeCRIDNotFound   = codeCRIDNotFound
	CodeMIDNotEnrolled = codeMIDNotEnrolled
)
