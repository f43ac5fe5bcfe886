package main

import "context"

func accountsMain(ctx context.Context, args []string, env *Env) int { return ExitConfig }
