package bidding

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// protocolCodes parses §6 of docs/protocol.md: the codes of the decline
// table, of the receipt error_code paragraph and of the requester outcome
// table, in the order they appear.
func protocolCodes(t *testing.T) (decline, receipt, outcome []Code) {
	t.Helper()
	data, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	start := strings.Index(doc, "\n## 6. ")
	if start < 0 {
		t.Fatal("docs/protocol.md has no section 6")
	}
	sec := doc[start+1:]
	if end := strings.Index(sec[1:], "\n## "); end >= 0 {
		sec = sec[:end+1]
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\|")
	tick := regexp.MustCompile("`([^`]+)`")
	var tables [][]Code
	inTable := false
	var para strings.Builder
	inReceipt := false
	for _, line := range strings.Split(sec, "\n") {
		switch m := row.FindStringSubmatch(line); {
		case m != nil:
			if !inTable {
				tables = append(tables, nil)
				inTable = true
			}
			tables[len(tables)-1] = append(tables[len(tables)-1], Code(m[1]))
			continue
		case strings.HasPrefix(line, "|"):
			continue // a table's header or rule
		}
		inTable = false
		if strings.HasPrefix(line, "Receipt `error_code`s:") {
			inReceipt = true
			line = strings.TrimPrefix(line, "Receipt `error_code`s:")
		}
		if inReceipt {
			if strings.TrimSpace(line) == "" {
				inReceipt = false
				continue
			}
			para.WriteString(line + "\n")
		}
	}
	if len(tables) != 2 {
		t.Fatalf("§6 has %d code tables, want 2 (decline, requester outcome)", len(tables))
	}
	for _, m := range tick.FindAllStringSubmatch(para.String(), -1) {
		if c := Code(m[1]); c.Valid() && !slices.Contains(receipt, c) {
			receipt = append(receipt, c)
		}
	}
	return tables[0], receipt, tables[1]
}

// TestCodesMatchProtocolDoc: each list of codes is exactly the codes of
// its table in docs/protocol.md §6, and KnownCode knows every one of
// them and nothing else.
func TestCodesMatchProtocolDoc(t *testing.T) {
	decline, receipt, outcome := protocolCodes(t)
	for _, tc := range []struct {
		name      string
		doc, code []Code
	}{
		{"decline", decline, DeclineCodes()},
		{"receipt error_code", receipt, ReceiptCodes()},
		{"requester outcome", outcome, OutcomeCodes()},
	} {
		if len(tc.doc) == 0 {
			t.Errorf("%s: no codes parsed from docs/protocol.md", tc.name)
		}
		for _, c := range tc.doc {
			if !slices.Contains(tc.code, c) {
				t.Errorf("%s code %q is in docs/protocol.md §6 but not in bidding", tc.name, c)
			}
			if !KnownCode(c) {
				t.Errorf("KnownCode(%q) = false; docs/protocol.md §6 lists it", c)
			}
		}
		for _, c := range tc.code {
			if !slices.Contains(tc.doc, c) {
				t.Errorf("%s code %q is in bidding but not in docs/protocol.md §6", tc.name, c)
			}
			if !c.Valid() {
				t.Errorf("code %q is not Valid", c)
			}
		}
	}
	all := append(append(slices.Clone(decline), receipt...), outcome...)
	for _, c := range Codes() {
		if !slices.Contains(all, c) {
			t.Errorf("Codes() has %q, which docs/protocol.md §6 does not list", c)
		}
	}
	for _, c := range []Code{"", "no_such_code", "Timeout", "timeout: ran past 1s"} {
		if KnownCode(c) {
			t.Errorf("KnownCode(%q) = true", c)
		}
	}
}
