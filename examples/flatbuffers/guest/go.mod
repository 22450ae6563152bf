module github.com/libshmipc/libshmipc/examples/flatbuffers/guest

go 1.22

require github.com/libshmipc/libshmipc/go v0.0.0

require github.com/google/flatbuffers v25.12.19+incompatible

replace github.com/libshmipc/libshmipc/go => ../../../go
