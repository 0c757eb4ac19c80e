// Package seal encrypts small secrets (OAuth tokens, PKCE verifiers) for
// storage at rest with AES-256-GCM under a keyring that supports rotation.
//
// A sealed value is self-describing:
//
//	version (1 byte, 0x01) | key id length n (1 byte) | key id (n bytes) |
//	nonce (12 bytes, random) | ciphertext | GCM tag (16 bytes)
//
// The header (version and key id) is authenticated together with the
// caller's associated data, so neither can be altered without Open failing.
// The key id lets a keyring hold several keys: new values are sealed under
// the primary key, older values still open under the key that sealed them,
// and Rewrap moves them to the primary key. A random 96-bit nonce per value
// keeps a key safe for about 2^32 seals (NIST SP 800-38D §8.3); rotate well
// before that.
//
// Errors never contain plaintext or key material. Types holding keys redact
// themselves in fmt and log/slog output.
package seal
