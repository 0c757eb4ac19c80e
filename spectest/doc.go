// Package spectest checks uspsbiz and its fake, uspsbiztest, against USPS's
// own OpenAPI files (testdata/). It is a module of its own so that its
// OpenAPI validator, kin-openapi, never enters the library's go.mod; it has
// only tests.
package spectest
