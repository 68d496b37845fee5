package jobspec

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
}

// ParseSize parses a byte size: an integer number of bytes ("1048576") or a
// decimal number with a unit, SI (kB, MB, GB, TB: powers of 1000) or IEC
// (KiB, MiB, GiB, TiB: powers of 1024). Units are case-insensitive, "B" is
// optional ("256Mi" = "256MiB") and a space may separate number and unit.
// The result must be a whole number of bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, t[i:])
	}
	v, err := parseDecimal(num, mult)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	return v, nil
}

// parseDecimal returns num*mult, which must be a whole number fitting int64.
func parseDecimal(num string, mult int64) (int64, error) {
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, errors.New("expected a number")
	}
	if len(num) > 40 {
		return 0, errors.New("number too long")
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, errors.New("expected a number")
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, errors.New("not a whole number of units")
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, errors.New("too large")
	}
	return n.Int64(), nil
}

// FormatSize writes n bytes with the largest unit that represents it
// exactly, IEC first ("256MiB", "1GiB", "1500kB", "17B").
func FormatSize(n int64) string {
	if n == 0 {
		return "0B"
	}
	for _, u := range []struct {
		name string
		v    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// ParseCPU parses a CPU amount in cores ("2", "0.5") or, Kubernetes-style,
// in millicores ("500m"), and returns millicores. The amount must be a
// whole number of millicores.
func ParseCPU(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if m, ok := strings.CutSuffix(t, "m"); ok {
		if m == "" || strings.ContainsAny(m, "+-.eE_ ") {
			return 0, fmt.Errorf("cpu %q: expected whole millicores such as 500m", s)
		}
		v, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu %q: expected whole millicores such as 500m", s)
		}
		return v, nil
	}
	for _, c := range t {
		if (c < '0' || c > '9') && c != '.' {
			return 0, fmt.Errorf("cpu %q: expected cores such as 0.5 or 2, or millicores such as 500m", s)
		}
	}
	v, err := parseDecimal(t, 1000)
	if err != nil {
		return 0, fmt.Errorf("cpu %q: %w (the smallest amount is 0.001 core)", s, err)
	}
	return v, nil
}

// FormatCPU writes millicores as cores ("2", "0.5", "0.125").
func FormatCPU(milli int64) string {
	whole, frac := milli/1000, milli%1000
	if frac == 0 {
		return strconv.FormatInt(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
	return strconv.FormatInt(whole, 10) + "." + f
}

// ParseDuration parses a Go duration ("90s", "10m", "1h30m"). A bare number
// is refused because its unit would be a guess.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return 0, fmt.Errorf("duration %q has no unit; write for example %ss or %sm", s, t, t)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("duration %q: expected a Go duration such as 90s, 10m or 1h30m", s)
	}
	return d, nil
}

// FormatDuration writes d like time.Duration.String without trailing zero
// units ("10m", "1h", "1h30m", "1.5s").
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// msToDuration converts encoded milliseconds, refusing overflow.
func msToDuration(ms int64) (time.Duration, error) {
	if ms < 0 || ms > math.MaxInt64/int64(time.Millisecond) {
		return 0, fmt.Errorf("%d ms out of range", ms)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
