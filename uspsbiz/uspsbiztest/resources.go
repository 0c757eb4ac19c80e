package uspsbiztest

// EPA is an Enterprise Payment Account seeded on a business account.
type EPA struct {
	AccountNumber string
}

// resources holds the state of the fake's resource APIs.
type resources struct {
	epas map[string]EPA // by account number
}

func (r *resources) init() { r.epas = map[string]EPA{} }

// addEPA is called with s.mu held.
func (r *resources) addEPA(username string, e EPA) { r.epas[e.AccountNumber] = e }

// registerResources adds the resource API routes.
func (s *Server) registerResources() {}
