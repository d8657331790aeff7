module example.dev/website

go 1.26

require weft.dev/weft/sdk v0.0.0

// The SDK is published with Weft; in this repository it is the directory next door.
replace weft.dev/weft/sdk => ../../sdk
