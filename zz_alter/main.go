package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	cl, _ := kgo.NewClient(kgo.SeedBrokers(os.Args[1]))
	adm := kadm.NewClient(cl)
	n, _ := strconv.Atoi(os.Args[2])
	r, err := adm.UpdatePartitions(context.Background(), n, os.Args[3:]...)
	fmt.Println(r, err)
}
