package sniff

import (
	"bytes"
	"strings"
	"testing"
)

// Samples are the smallest files of each kind the sniffer accepts, for tests.
var (
	samplePDF  = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	samplePNG  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"), pngEnd...)
	sampleJPEG = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9")
)

func sniffAll(chunks ...[]byte) *Sniffer {
	s := &Sniffer{}
	for _, c := range chunks {
		_, _ = s.Write(c)
	}
	return s
}

// TestDetectAndComplete: R-VAULT-4, the type comes from the bytes, and a
// file cut short is refused.
func TestDetectAndComplete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		want    string
		problem Problem
		whole   bool
	}{
		{"pdf", samplePDF, PDF, "", true},
		{"png", samplePNG, PNG, "", true},
		{"jpeg", sampleJPEG, JPEG, "", true},
		{"truncated pdf", samplePDF[:20], PDF, "", false},
		{"truncated png", samplePNG[:len(samplePNG)-3], PNG, "", false},
		{"truncated jpeg", sampleJPEG[:len(sampleJPEG)-1], JPEG, "", false},
		{"windows executable named anything", []byte("MZ\x90\x00\x03\x00\x00\x00 This program cannot be run in DOS mode %PDF-"), "", Executable, false},
		{"elf", []byte("\x7fELF\x02\x01\x01"), "", Executable, false},
		{"script", []byte("#!/bin/sh\nrm -rf /\n"), "", Executable, false},
		{"zip", []byte("PK\x03\x04rest"), "", Executable, false},
		{"html", []byte("<html><script>alert(1)</script>"), "", Unknown, false},
		{"empty", nil, "", Empty, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sniffAll(tc.data)
			got, problem := s.Detect()
			if got != tc.want || problem != tc.problem {
				t.Fatalf("Detect = %q %q, want %q %q", got, problem, tc.want, tc.problem)
			}
			if got != "" && s.Complete(got) != tc.whole {
				t.Fatalf("Complete = %v, want %v", !tc.whole, tc.whole)
			}
		})
	}
}

// TestStreamingKeepsHeadAndTail: however the bytes are cut into writes,
// the sniffer sees the same head and tail, and keeps no more than them.
func TestStreamingKeepsHeadAndTail(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 10_000)
	data := append(append(append([]byte{}, samplePDF[:9]...), body...), []byte("\n%%EOF\n")...)
	for _, size := range []int{1, 7, 1000, 1024, 4096, len(data)} {
		s := &Sniffer{}
		for i := 0; i < len(data); i += size {
			_, _ = s.Write(data[i:min(i+size, len(data))])
		}
		if typ, _ := s.Detect(); typ != PDF || !s.Complete(PDF) || s.Size() != int64(len(data)) {
			t.Fatalf("chunks of %d: type %q complete %v size %d", size, typ, s.Complete(PDF), s.Size())
		}
		if !bytes.Equal(s.tail, data[len(data)-tailSize:]) || cap(s.head) > 2*headSize || cap(s.tail) > 4*tailSize {
			t.Fatalf("chunks of %d: tail or memory wrong (head cap %d, tail cap %d)", size, cap(s.head), cap(s.tail))
		}
	}
}

func TestExtensionsAndDeclaredTypes(t *testing.T) {
	if ExtensionType("scan.PDF") != PDF || ExtensionType("photo.jpeg") != JPEG || ExtensionType("notes") != "" || ExtensionType("x.exe") == PDF {
		t.Fatal("extension types")
	}
	if !SameType("application/pdf; charset=binary", PDF) || !SameType("IMAGE/JPG", JPEG) || SameType("image/png", PDF) {
		t.Fatal("declared types")
	}
}

// FuzzSniffer: any bytes, cut anywhere, never panic, and the answer does
// not depend on how the stream was cut.
func FuzzSniffer(f *testing.F) {
	for _, s := range [][]byte{samplePDF, samplePNG, sampleJPEG, []byte("MZ"), nil} {
		f.Add(s, uint16(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		whole := sniffAll(data)
		c := int(cut)%(len(data)+1) + 1
		parts := &Sniffer{}
		for i := 0; i < len(data); i += c {
			_, _ = parts.Write(data[i:min(i+c, len(data))])
		}
		a, pa := whole.Detect()
		b, pb := parts.Detect()
		if a != b || pa != pb {
			t.Fatalf("detect differs by cut: %q/%q vs %q/%q", a, pa, b, pb)
		}
		if a != "" && whole.Complete(a) != parts.Complete(a) {
			t.Fatal("completeness differs by cut")
		}
		if a == "" && pa == "" {
			t.Fatal("neither a type nor a problem")
		}
	})
}

func TestWithExtension(t *testing.T) {
	for _, tc := range []struct{ name, ct, want string }{
		{"a.pdf", PDF, "a.pdf"},
		{"a.PDF", PDF, "a.PDF"},
		{"a.cmd", PDF, "a.cmd.pdf"},
		{"photo.jpeg", JPEG, "photo.jpeg"},
		{"photo", JPEG, "photo.jpg"},
		{"scan.png.exe", PNG, "scan.png.exe.png"},
		{strings.Repeat("é", 127) + ".x", PDF, strings.Repeat("é", 125) + ".pdf"},
	} {
		if got := WithExtension(tc.name, tc.ct); got != tc.want || len(got) > 255 {
			t.Errorf("WithExtension(%q, %s) = %q, want %q", tc.name, tc.ct, got, tc.want)
		}
	}
}
