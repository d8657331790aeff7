module weft.dev/weft/sdk

go 1.26
