package bufpool

import "testing"

func TestGetLengthsAndTiers(t *testing.T) {
	p := New()
	for _, n := range []int{0, 1, 255, 256, 257, 16 << 10, 16<<10 + 1, 1 << 20, 4 << 20} {
		b := p.Get(n)
		if len(*b) != n {
			t.Fatalf("Get(%d): length %d", n, len(*b))
		}
		want := 1 << minShift
		for want < n {
			want <<= 1
		}
		if cap(*b) != want {
			t.Fatalf("Get(%d): capacity %d, want the tier's %d", n, cap(*b), want)
		}
		p.Put(b)
	}
	if b := p.Get(4<<20 + 1); len(*b) != 4<<20+1 {
		t.Fatalf("past the largest tier: length %d", len(*b))
	}
}

func TestPutReusesAndRefusesStrangers(t *testing.T) {
	p := New()
	b := p.Get(1000)
	(*b)[0] = 42
	p.Put(b)
	// sync.Pool may drop what it holds; what it gives back is the tier's.
	if c := p.Get(600); cap(*c) != 1024 || len(*c) != 600 {
		t.Fatalf("reused: len %d cap %d", len(*c), cap(*c))
	}
	odd := make([]byte, 1000) // not a tier's capacity: never handed out
	p.Put(&odd)
	for range 100 {
		if c := p.Get(1000); cap(*c) == 1000 {
			t.Fatal("a buffer of a foreign capacity was pooled")
		}
	}
}
