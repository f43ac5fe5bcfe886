// Package saslmech implements the SASL mechanisms that
// [github.com/emersion/go-sasl] lacks, as [sasl.Client] values for the POP3
// client and as [sasl.Server] values for the in-process test server.
//
// # Mechanisms
//
//   - CRAM-MD5 (RFC 2195): [NewCRAMMD5Client], [NewCRAMMD5Server].
//   - SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel
//     binding: [NewSCRAMClient], [NewSCRAMServer]. The client checks the
//     server signature; a wrong one is [ErrServerSignature].
//   - XOAUTH2 (Google and Microsoft bearer-token login): [NewXOAUTH2Client],
//     [NewXOAUTH2Server].
//   - LOGIN (draft-murchison-sasl-login), server side only, matching the
//     go-sasl LOGIN client: [NewLoginServer].
//
// # Credentials
//
// No error returned by this package contains a user name, password, token
// or any value derived from them. Arguments holding control characters
// (the "SASLprep-lite" applied here: C0 controls and DEL, plus invalid UTF-8)
// are refused by Start before anything is sent.
//
// # Servers
//
// The servers are written for tests: they look credentials up through a
// function, answer unknown users immediately with [ErrInvalidCredentials]
// and do not resist timing or enumeration attacks beyond constant-time
// comparison of secrets. Mechanisms that finish with server data (SCRAM's
// server-final-message) return it as a challenge and expect an empty
// response, as RFC 5034 section 4 requires for POP3.
package saslmech
