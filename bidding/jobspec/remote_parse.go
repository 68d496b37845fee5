package jobspec

// Import values of an input's import field.
const (
	// ImportExecutor (default): the executor downloads the input before
	// the run, and the receipt records what it got.
	ImportExecutor = "executor"
	// ImportRequester: the requester downloads and adds the input before
	// submission (ParseOptions.Import), and the spec holds its CID.
	ImportRequester = "requester"
)

// RemoteRef is a remote input with `import: requester`, for
// ParseOptions.Import.
type RemoteRef struct {
	// Field is the input's path: "inputs[2]".
	Field string
	// Input holds URL or S3 (and Path).
	Input Input
	// Line is the line of the input in the document.
	Line int
}

// remoteInputFields adds the url, s3 and import fields of an input to its
// handlers; finish, called after the input's fields are read, does the
// requester-side import.
func (w *walker) remoteInputFields(in *Input, h map[string]func(string, *docNode)) (finish func(path string, line int)) {
	var imp string
	var impLine int
	h["url"] = func(p string, v *docNode) { w.str(p, v, &in.URL) }
	h["s3"] = func(p string, v *docNode) {
		o := &S3Object{}
		w.fields(p, v, map[string]func(string, *docNode){
			"bucket":   func(p string, v *docNode) { w.str(p, v, &o.Bucket) },
			"key":      func(p string, v *docNode) { w.str(p, v, &o.Key) },
			"prefix":   func(p string, v *docNode) { w.str(p, v, &o.Prefix) },
			"endpoint": func(p string, v *docNode) { w.str(p, v, &o.Endpoint) },
			"region":   func(p string, v *docNode) { w.str(p, v, &o.Region) },
		})
		in.S3 = o
	}
	h["import"] = func(p string, v *docNode) {
		w.str(p, v, &imp)
		impLine = v.line
		if imp != ImportExecutor && imp != ImportRequester {
			w.fail(p, v.line, ErrInvalid, "%q: use executor (the default: the executor downloads it) or requester (downloaded and added before submission)", imp)
		}
	}
	return func(path string, line int) {
		if imp != ImportRequester {
			return
		}
		if !in.Remote() {
			w.fail(join(path, "import"), impLine, ErrInvalid, "import applies to url and s3 inputs only")
			return
		}
		if w.importer == nil {
			w.fail(join(path, "import"), impLine, ErrInvalid, "import: requester is done by `shoal job run` and `shoal run` before submission; a daemon takes only CIDs and executor-side imports")
			return
		}
		c, err := w.importer(RemoteRef{Field: path, Input: *in, Line: line})
		if err != nil {
			w.fail(path, line, ErrInvalid, "%s: %v", in.Source(), err)
			return
		}
		*in = Input{CID: c, Path: in.Path}
	}
}

func (w *walker) publishList(p string, v *docNode, s *Spec) {
	w.list(p, v, MaxPublish, func(p string, it *docNode) {
		var t Publish
		w.fields(p, it, map[string]func(string, *docNode){
			"s3": func(p string, v *docNode) {
				o := &S3Target{}
				w.fields(p, v, map[string]func(string, *docNode){
					"bucket":   func(p string, v *docNode) { w.str(p, v, &o.Bucket) },
					"prefix":   func(p string, v *docNode) { w.str(p, v, &o.Prefix) },
					"endpoint": func(p string, v *docNode) { w.str(p, v, &o.Endpoint) },
					"region":   func(p string, v *docNode) { w.str(p, v, &o.Region) },
				})
				t.S3 = o
			},
			"ipfs": func(p string, v *docNode) {
				o := &IPFSTarget{}
				w.fields(p, v, map[string]func(string, *docNode){
					"api": func(p string, v *docNode) { w.str(p, v, &o.API) },
				})
				t.IPFS = o
			},
			"required": func(p string, v *docNode) { w.boolean(p, v, &t.Required) },
		})
		s.Publish = append(s.Publish, t)
	})
}
