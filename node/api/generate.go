package api

//go:generate go test -run ^TestAPIDocsUpToDate$ -update .
