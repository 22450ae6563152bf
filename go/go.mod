module github.com/libshmipc/libshmipc/go

go 1.19
