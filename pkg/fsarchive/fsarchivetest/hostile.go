// Package fsarchivetest makes hostile tar archives for the fuzz tests of
// every path that extracts one (fsarchive, volume import, cp, image load
// and import).
package fsarchivetest

import (
	"archive/tar"
	"bytes"
)

// HostileTar turns fuzz bytes into a tar built to escape: each entry picks
// a name, a type, a link target and a size from lists of hostile choices
// ("..", absolute names, symlinks and hard links that point out, device
// nodes, duplicates, sizes the data does not have), and the stream may end
// anywhere. outside is an absolute path next to the target that the
// archive tries to reach.
func HostileTar(prog []byte, outside string) []byte {
	names := []string{
		"a", "a/b", "d", "d/e", "l", "l/x", "l/../x", "hl", "d/../a", "./a", "a//b",
		".", "", "../x", "a/../../x", "/abs", outside + "/pwned", "d/l", "d/l/y", "sl/sub",
	}
	links := []string{
		"../outside/secret", outside + "/secret", outside, "..", "../..", "/",
		"a", "d", "l", "hl", "d/l", "../outside", "/proc/self/root" + outside, "",
	}
	types := []byte{
		tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar,
		tar.TypeBlock, tar.TypeFifo, tar.TypeReg, tar.TypeSymlink, 'Z', tar.TypeXGlobalHeader,
	}
	sizes := []int64{0, 1, 5, 512, 1 << 40, -1}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	next := func() int {
		if len(prog) == 0 {
			return 0
		}
		b := prog[0]
		prog = prog[1:]
		return int(b)
	}
	for len(prog) > 0 {
		op := next()
		if op == 0xff { // cut the stream here
			b := buf.Bytes()
			return b[:len(b)*next()/256]
		}
		h := &tar.Header{
			Name:     names[next()%len(names)],
			Typeflag: types[op%len(types)],
			Mode:     int64(next()<<4 | 0o7),
			Uid:      next() % 3 * 1000,
			Gid:      next() % 3 * 1000,
			Devmajor: 1, Devminor: 3,
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			h.Name = "pax_global_header"
			h.PAXRecords = map[string]string{"path": names[next()%len(names)]}
		}
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			h.Linkname = links[next()%len(links)]
		}
		size := sizes[next()%len(sizes)]
		data := bytes.Repeat([]byte{'x'}, 5)
		if h.Typeflag == tar.TypeReg {
			h.Size = max(size, 0)
			if size < 0 {
				h.Size = int64(len(data))
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			continue
		}
		if h.Size > 0 {
			n := min(h.Size, int64(len(data)))
			_, _ = tw.Write(data[:n])
			if n < h.Size { // the archive claims more than it holds: truncated
				return buf.Bytes()
			}
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}
