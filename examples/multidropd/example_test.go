package main

import (
	"fmt"
	"time"
)

// A configuration with a typo is refused with the file, the line and
// column, and the key.
func ExampleParseConfig_error() {
	data := []byte(`{
  "directory": {"path": "users"},
  "deliver": {"maildir": {"root": "/var/mail/vhosts"}},
  "pipeline": {"intervall": "5m"}
}`)
	_, err := ParseConfig("multidropd.json", "/etc/multidrop/multidropd.json", data)
	fmt.Println(err)
	// Output:
	// multidropd.json:4:16: pipeline.intervall: unknown key (known keys here: interval, concurrency, spool_dir, local_host, lease_ttl, max_message_size, owner, schedule, poll, guard_min, guard_share, guard_window)
}

// The smallest useful configuration: an SQLite store next to the file,
// a users file and Maildir delivery.
func ExampleParseConfig() {
	data := []byte(`{
  "directory": {"path": "users"},
  "deliver": {"maildir": {"root": "/var/mail/vhosts"}},
  "pipeline": {"interval": "2m"}
}`)
	c, err := ParseConfig("multidropd.json", "/etc/multidrop/multidropd.json", data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Store.Driver, c.Store.Path)
	fmt.Println(c.Directory.Path)
	fmt.Println(c.Deliver.Default, c.Deliver.Maildir.Template)
	fmt.Println(time.Duration(c.Pipeline.Interval), c.Pipeline.Schedule)
	// Output:
	// sqlite /etc/multidrop/multidrop.db
	// /etc/multidrop/users
	// maildir {root}/{domain}/{user}/Maildir
	// 2m0s local
}
