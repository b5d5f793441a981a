package schemas

// Nesting is nesting, for the external tests (fuzz_test.go).
var Nesting = nesting
