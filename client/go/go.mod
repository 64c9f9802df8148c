module jqd.invalid/jqclient

go 1.19
