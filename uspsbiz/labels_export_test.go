package uspsbiz

import (
	"io"
	"net/http"
	"strings"
)

// ReadLabelResponseForTest runs the label answer reader on a body.
func ReadLabelResponseForTest(contentType, body string) (*Label, error) {
	res := &http.Response{Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(strings.NewReader(body))}
	var lr labelResponse
	if err := lr.readResponse(res); err != nil {
		return nil, err
	}
	return &lr.label, nil
}
