package main

func (ac *accountsCmd) importFetchmailrc(path, users string, args []string) int {
	return ac.errorf(ExitConfig, "not yet")
}
