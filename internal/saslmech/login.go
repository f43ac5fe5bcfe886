package saslmech

import (
	"github.com/emersion/go-sasl"
)

// Login is the name of the LOGIN mechanism (draft-murchison-sasl-login).
const Login = "LOGIN"

type loginServer struct {
	auth  func(username, password string) error
	user  string
	state int // 0: start, 1: want user, 2: want password, 3: done
}

// NewLoginServer returns a LOGIN server that works with the go-sasl LOGIN
// client, which sends the user name as initial response and answers the
// "Password:" challenge. Without an initial response the server first asks
// "Username:". auth decides; its error is returned as is.
func NewLoginServer(auth func(username, password string) error) sasl.Server {
	return &loginServer{auth: auth}
}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		if response == nil {
			s.state = 1
			return []byte("Username:"), false, nil
		}
		s.user = string(response)
		s.state = 2
		return []byte("Password:"), false, nil
	case 1:
		s.user = string(response)
		s.state = 2
		return []byte("Password:"), false, nil
	case 2:
		s.state = 3
		if err := s.auth(s.user, string(response)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	return nil, true, protoErr(Login, "unexpected response after the end of the exchange")
}
