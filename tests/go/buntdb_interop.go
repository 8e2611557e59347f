// Command buntdb_interop writes and reads buntdb files with Go buntdb, for
// tests/store_interop_test.ts.
//
// Usage:
//
//	buntdb_interop write <path>  writes a known set of keys
//	buntdb_interop read <path>   prints every live key as "key<TAB>value"
//	                             (values quoted), or "error: ..." on failure
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/tidwall/buntdb"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: buntdb_interop write|read <path>")
		os.Exit(2)
	}
	path := os.Args[2]
	switch os.Args[1] {
	case "write":
		if err := write(path); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
	case "read":
		if err := read(path); err != nil {
			fmt.Println("error:", err)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func write(path string) error {
	db, err := buntdb.Open(path)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *buntdb.Tx) error {
		sets := [][2]string{
			{"plain", "v1"},
			{"gone", "x"},
			{"bin", "a\r\nb\x00c*2\r\n"},
			{"clé", "ü"},
			{"overwritten", "old"},
			{"overwritten", "new"},
		}
		for _, kv := range sets {
			if _, _, err := tx.Set(kv[0], kv[1], nil); err != nil {
				return err
			}
		}
		if _, err := tx.Delete("gone"); err != nil {
			return err
		}
		hour := &buntdb.SetOptions{Expires: true, TTL: time.Hour}
		if _, _, err := tx.Set("ttl-hour", "h", hour); err != nil {
			return err
		}
		minute := &buntdb.SetOptions{Expires: true, TTL: time.Minute}
		_, _, err := tx.Set("ttl-minute", "m", minute)
		return err
	})
	if err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

func read(path string) error {
	db, err := buntdb.Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(key, value string) bool {
			fmt.Printf("%s\t%q\n", key, value)
			return true
		})
	})
}
