package ui

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"time"

	"github.com/berthproject/berth/pkg/types/container"
)

// entry is one item of a directory listing.
type entry struct {
	Name    string
	Path    string
	Dir     bool
	Size    int64
	Mode    fs.FileMode
	ModTime time.Time
	Link    string
}

// maxScan bounds the tar entries read to list a volume's directory (a
// listing reads the volume's export: tar is depth first).
const maxScan = 20000

func sortEntries(list []entry) {
	sort.Slice(list, func(i, j int) bool {
		if list[i].Dir != list[j].Dir {
			return list[i].Dir
		}
		return list[i].Name < list[j].Name
	})
}

func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}

// filesFragment lists a directory of the container's file system.
func (s *Server) filesFragment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	dir := cleanPath(r.URL.Query().Get("path"))
	st, err := s.b.Containers.StatPath(ctx, id, dir)
	if err != nil {
		return err
	}
	if !st.Mode.IsDir() {
		return fmt.Errorf("%s is not a directory: %w", dir, errInvalid)
	}
	stats, err := s.b.Files.ReadDir(ctx, id, dir)
	if err != nil {
		return err
	}
	list := make([]entry, 0, len(stats))
	for _, st := range stats {
		list = append(list, entry{Name: st.Name, Path: path.Join(dir, st.Name), Dir: st.Mode.IsDir(), Size: st.Size, Mode: st.Mode, ModTime: st.ModTime, Link: st.LinkTarget})
	}
	sortEntries(list)
	truncated := false
	s.render(w, func(h *htmlWriter) { filesList(h, id, dir, list, truncated) })
	return nil
}

// filesList is a directory of container id: its entries, a link up and
// the upload form.
func filesList(w *htmlWriter, id, dir string, entries []entry, truncated bool) {
	w.raw(`<p class="path">Directory <code>`)
	w.text(dir)
	w.raw(`</code>`)
	if dir != "/" {
		w.raw(` · <a href="#files"`)
		w.url("hx-get", route("/containers/{}/files", id).query("path", path.Dir(dir)))
		w.raw(` hx-target="#files-list">Up</a>`)
	}
	w.raw(`</p>
<form class="toolbar"`)
	w.url("hx-post", route("/containers/{}/files", id).query("path", dir))
	w.raw(` hx-target="#files-list" hx-encoding="multipart/form-data" enctype="multipart/form-data">
<label for="upload">Upload a file into `)
	w.text(dir)
	w.raw(`</label><input id="upload" type="file" name="file" required>
<button type="submit">Upload</button>
</form>
<table><thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Mode</th><th scope="col">Modified</th></tr></thead><tbody>
`)
	for _, e := range entries {
		w.raw(`<tr><td>`)
		switch {
		case e.Dir:
			w.raw(`<a href="#files"`)
			w.url("hx-get", route("/containers/{}/files", id).query("path", e.Path))
			w.raw(` hx-target="#files-list">`)
			w.text(e.Name)
			w.raw(`/</a>`)
		case e.Link != "":
			w.text(e.Name)
			w.raw(` → `)
			w.text(e.Link)
		default:
			w.raw(`<a`)
			w.url("href", route("/containers/{}/file", id).query("path", e.Path))
			w.raw(` download>`)
			w.text(e.Name)
			w.raw(`</a>`)
		}
		w.raw(`</td>
<td>`)
		if !e.Dir {
			w.text(humanBytes(e.Size))
		}
		w.raw(`</td><td><code>`)
		w.text(e.Mode.String())
		w.raw(`</code></td><td>`)
		w.text(e.ModTime.Format("2006-01-02 15:04"))
		w.raw(`</td></tr>`)
	}
	if len(entries) == 0 {
		w.raw(`<tr><td colspan="4">empty</td></tr>`)
	}
	w.raw(`
</tbody></table>`)
	if truncated {
		w.raw(`<p>The listing stopped after `)
		w.num(int64(len(entries)))
		w.raw(` entries.</p>`)
	}
}

// fileDownload sends one regular file of the container.
func (s *Server) fileDownload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	p := cleanPath(r.URL.Query().Get("path"))
	st, err := s.b.Containers.StatPath(ctx, id, p)
	if err != nil {
		return err
	}
	if !st.Mode.IsRegular() {
		return fmt.Errorf("%s is not a regular file: %w", p, errInvalid)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.b.Containers.CopyFrom(ctx, id, p, pw)) }()
	defer pr.Close()
	tr := tar.NewReader(pr)
	h, err := tr.Next()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(p)))
	w.Header().Set("Content-Length", fmt.Sprint(h.Size))
	_, err = io.Copy(w, tr)
	return err
}

// fileUpload puts the uploaded file into the directory ?path= (multipart
// field "file").
func (s *Server) fileUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	dir := cleanPath(r.URL.Query().Get("path"))
	f, fh, err := r.FormFile("file")
	if err != nil {
		return fmt.Errorf("no file in the upload (multipart field \"file\"): %w", errInvalid)
	}
	defer f.Close()
	name := path.Base(fh.Filename)
	if name == "." || name == "/" || name == ".." {
		return fmt.Errorf("bad file name %q: %w", fh.Filename, errInvalid)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fh.Size, ModTime: time.Now(), Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	if err := s.b.Containers.CopyTo(ctx, id, copyToDir(dir), pr); err != nil {
		pr.CloseWithError(err)
		return err
	}
	r.URL.RawQuery = "path=" + dir
	return s.filesFragment(w, r)
}

// copyToDir extracts a tar as it is into the directory dir.
func copyToDir(dir string) container.CopyToOptions { return container.CopyToOptions{Path: dir} }
