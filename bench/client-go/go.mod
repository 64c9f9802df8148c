module jqd.invalid/jqclient/bench

go 1.19

require jqd.invalid/jqclient v0.0.0

replace jqd.invalid/jqclient => ../../client/go
