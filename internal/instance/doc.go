// Package instance holds helpers for running several multidrop instances
// against one shared store: [CountingConnector], a database/sql connector
// that counts the statements an instance sends, for the figures of
// scripts/bench-shared (program internal/instance/benchshared).
package instance
