// Command harness times Porcupine on distlab's JSON-lines histories, so that
// bench/check_porcupine.py can put both checkers side by side on the same files.
//
//	harness register|kv FILE...
//
// prints one JSON object per file: {"file", "parse_s", "check_s", "ok"}.
// Semantics follow distlab's format: fail ops did not happen and are dropped;
// info and pending ops return at the end of time with an unknown output
// (Porcupine's deterministic models cannot express "never took effect", so an
// unknown write is applied somewhere -- as in Porcupine's own etcd tests).
// Built by the benchmark against a Porcupine checkout it is given; Porcupine
// itself is never committed here.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

type record struct {
	Process json.RawMessage `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Key     json.RawMessage `json:"key"`
	Value   json.RawMessage `json:"value"`
	Time    json.Number     `json:"time"`
}

type input struct {
	f        string
	key      string
	value    string // register: raw JSON; kv: the string
	expected string // register cas
}

type output struct {
	value   string
	unknown bool
}

func ns(n json.Number) int64 {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i
	}
	f, _ := strconv.ParseFloat(string(n), 64)
	return int64(f)
}

func str(raw json.RawMessage) string {
	var s *string
	if json.Unmarshal(raw, &s) != nil || s == nil {
		return ""
	}
	return *s
}

func load(path string, kv bool) ([]porcupine.Operation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	open := map[string]int{}
	var ops []porcupine.Operation
	var dropped []bool
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		proc := string(r.Process)
		if proc == `"nemesis"` {
			continue
		}
		t := ns(r.Time)
		if r.Type == "invoke" {
			in := input{f: r.F, key: string(r.Key)}
			if kv {
				in.value = str(r.Value)
			} else if r.F == "cas" {
				var pair []json.RawMessage
				_ = json.Unmarshal(r.Value, &pair)
				in.expected, in.value = string(pair[0]), string(pair[1])
			} else {
				in.value = string(r.Value)
			}
			open[proc] = len(ops)
			ops = append(ops, porcupine.Operation{ClientId: len(open), Input: in, Call: t,
				Output: output{unknown: true}, Return: math.MaxInt64})
			dropped = append(dropped, false)
			continue
		}
		i := open[proc]
		delete(open, proc)
		switch r.Type {
		case "ok":
			out := output{value: string(r.Value)}
			if kv {
				out.value = str(r.Value)
			}
			ops[i].Output, ops[i].Return = out, t
		case "fail":
			dropped[i] = true
		}
	}
	kept := ops[:0]
	for i, op := range ops {
		if !dropped[i] {
			kept = append(kept, op)
		}
	}
	return kept, sc.Err()
}

func byKey(history []porcupine.Operation) [][]porcupine.Operation {
	parts := map[string][]porcupine.Operation{}
	var order []string
	for _, op := range history {
		k := op.Input.(input).key
		if _, seen := parts[k]; !seen {
			order = append(order, k)
		}
		parts[k] = append(parts[k], op)
	}
	out := make([][]porcupine.Operation, 0, len(order))
	for _, k := range order {
		out = append(out, parts[k])
	}
	return out
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

var register = porcupine.Model{
	Partition: byKey,
	Init:      func() interface{} { return "null" },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		st, i, o := state.(string), in.(input), out.(output)
		switch i.f {
		case "write":
			return true, i.value
		case "read":
			return o.unknown || o.value == st, st
		default: // cas: ok means it swapped
			if st == i.expected {
				return true, i.value
			}
			return o.unknown, st
		}
	},
	Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	Hash:  func(s interface{}) uint64 { return hash(s.(string)) },
}

var kvModel = porcupine.Model{
	Partition: byKey,
	Init:      func() interface{} { return "" },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		st, i, o := state.(string), in.(input), out.(output)
		switch i.f {
		case "put":
			return true, i.value
		case "append":
			return true, st + i.value
		case "delete":
			return true, ""
		default:
			return o.unknown || o.value == st, st
		}
	},
	Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	Hash:  func(s interface{}) uint64 { return hash(s.(string)) },
}

func main() {
	kv := os.Args[1] == "kv"
	model := register
	if kv {
		model = kvModel
	}
	for _, path := range os.Args[2:] {
		t0 := time.Now()
		ops, err := load(path, kv)
		if err != nil {
			fmt.Fprintln(os.Stderr, path, err)
			os.Exit(2)
		}
		t1 := time.Now()
		ok := porcupine.CheckOperations(model, ops)
		t2 := time.Now()
		line, _ := json.Marshal(map[string]interface{}{
			"file": path, "parse_s": t1.Sub(t0).Seconds(), "check_s": t2.Sub(t1).Seconds(), "ok": ok,
		})
		fmt.Println(string(line))
	}
}
