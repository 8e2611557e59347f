// The store workload of bench/store_bench.ts on Go buntdb (Debian's
// golang-github-tidwall-buntdb-dev, 1.1.7), so `deno task bench` can put
// BuntStore and the engine it succeeds side by side in one run.
//
// Usage: buntdb_bench <dir> <sessions> <concurrency>
//
// Same tokens, values, phases and checks as the Deno side (bench/_common.ts:
// token(), value()); SyncPolicy EverySecond, buntdb's default. Prints one
// JSON object: rates per phase (ops/s), ops per phase, reopenMs, sessions,
// and heapBytesPerSession (Go heap in use after a GC, per live session).
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/buntdb"
)

const valueBytes = 256
const ttl = time.Hour

func token(i int) string {
	s := strconv.FormatInt(int64(i), 36)
	s = "t" + strings.Repeat("0", max(0, 8-len(s))) + s
	return s + strings.Repeat("x", 43-len(s))
}

func value(i, round int) string {
	b := make([]byte, valueBytes)
	binary.BigEndian.PutUint32(b[0:], uint32(i))
	binary.BigEndian.PutUint32(b[4:], uint32(round))
	for j := 8; j < valueBytes; j++ {
		b[j] = byte((i + j) & 0xff)
	}
	return string(b)
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(1)
	}
}

func open(path string) *buntdb.DB {
	db, err := buntdb.Open(path)
	must(err)
	must(db.SetConfig(buntdb.Config{
		SyncPolicy:           buntdb.EverySecond,
		AutoShrinkPercentage: 100,
		AutoShrinkMinSize:    32 * 1024 * 1024,
	}))
	return db
}

func save(db *buntdb.DB, i, round int) {
	must(db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(token(i), value(i, round), &buntdb.SetOptions{Expires: true, TTL: ttl})
		return err
	}))
}

func find(db *buntdb.DB, i int) (string, bool) {
	var v string
	err := db.View(func(tx *buntdb.Tx) error {
		var err error
		v, err = tx.Get(token(i))
		return err
	})
	if err == buntdb.ErrNotFound {
		return "", false
	}
	must(err)
	return v, true
}

func verify(db *buntdb.DB, n int, rounds []int, when string) {
	for i := 0; i < n; i++ {
		v, ok := find(db, i)
		check(ok && v == value(i, rounds[i]), "session %d wrong or missing %s", i, when)
	}
	var count int
	must(db.View(func(tx *buntdb.Tx) error {
		var err error
		count, err = tx.Len()
		return err
	}))
	check(count == n, "buntdb counts %d sessions %s, not %d", count, when, n)
}

func main() {
	check(len(os.Args) == 4, "usage: buntdb_bench <dir> <sessions> <concurrency>")
	dir := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	must(err)
	concurrency, err := strconv.Atoi(os.Args[3])
	must(err)
	path := dir + "/sessions.db"
	rates := map[string]float64{}
	ops := map[string]int{}
	record := func(phase string, count int, start time.Time) {
		ops[phase] = count
		rates[phase] = float64(count) / time.Since(start).Seconds()
	}
	rounds := make([]int, n)
	db := open(path)

	start := time.Now()
	for i := 0; i < n; i++ {
		save(db, i, 0)
	}
	record("seqSave", n, start)

	start = time.Now()
	var next int64 = -1
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= n {
					return
				}
				save(db, i, 0)
			}
		}()
	}
	wg.Wait()
	record("concSave", n, start)
	verify(db, n, rounds, "after saves")

	start = time.Now()
	for i := 0; i < n; i++ {
		_, ok := find(db, i)
		check(ok, "session %d not found", i)
	}
	record("find", n, start)

	start = time.Now()
	for m := 0; m < n; m++ {
		j := (m * 7919) % n
		if m%10 == 0 {
			save(db, j, 1)
			rounds[j] = 1
		} else {
			_, ok := find(db, j)
			check(ok, "session %d lost in the mix", j)
		}
	}
	record("mixed", n, start)
	verify(db, n, rounds, "after the mix")

	must(db.Close())
	start = time.Now()
	db = open(path)
	reopenMs := float64(time.Since(start).Microseconds()) / 1000
	verify(db, n, rounds, "after reopen")
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	heapPerSession := float64(mem.HeapInuse) / float64(n)

	start = time.Now()
	for i := 0; i < n; i++ {
		must(db.Update(func(tx *buntdb.Tx) error {
			_, err := tx.Delete(token(i))
			return err
		}))
	}
	record("delete", n, start)
	must(db.Close())

	out, err := json.Marshal(map[string]interface{}{
		"rates":               rates,
		"ops":                 ops,
		"reopenMs":            reopenMs,
		"sessions":            n,
		"heapBytesPerSession": heapPerSession,
	})
	must(err)
	fmt.Println(string(out))
}
