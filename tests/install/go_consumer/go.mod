module example.com/shmipc-consumer

go 1.22

require github.com/libshmipc/libshmipc/go v0.0.0

replace github.com/libshmipc/libshmipc/go => ../../../go
