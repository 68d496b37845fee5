package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/bidding/jobspec"
	"github.com/shoalnet/shoal/bidding/workflow"
)

const wfModule = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

func wfStep(name, inputs string) string {
	return "  - name: " + name + "\n    engine: {wasm: {module: " + wfModule + "}}\n" + inputs
}

func TestWorkflowHandlers(t *testing.T) {
	s, _ := apiNode(t)
	doc := "name: handlers\nsteps:\n" + wfStep("a", "") + wfStep("b", "    inputs: [{from: a/out.txt, path: /inputs/x}]\n")
	w, err := workflow.Parse([]byte(doc), "", jobspec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	block, id, err := workflow.Encode(w)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(WorkflowSubmit{Block: block})

	t.Run("refused", func(t *testing.T) {
		for name, tc := range map[string]struct{ doc, ct, want string }{
			"cycle":        {"name: c\nsteps:\n" + wfStep("x", "    inputs: [{from: y, path: /i}]\n") + wfStep("y", "    inputs: [{from: x, path: /i}]\n"), mediaYAML, "steps x -> y -> x"},
			"unknown from": {"name: u\nsteps:\n" + wfStep("x", "    inputs: [{from: z, path: /i}]\n"), mediaYAML, `input from "z", and no step has that name`},
			"duplicate":    {"name: d\nsteps:\n" + wfStep("x", "") + wfStep("x", ""), mediaYAML, `both named "x"`},
			"local path":   {"name: l\nsteps:\n  - name: x\n    engine: {wasm: {module: ./x.wasm}}\n", mediaYAML, "a daemon takes only CIDs"},
			"bad block":    {`{"block":"` + "oWF4AQ==" + `"}`, mediaJSON, "decode workflow"},
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, post(t, s, "/workflows", tc.ct, tc.doc), http.StatusBadRequest, CodeBadRequest, tc.want)
			})
		}
		var runs []WorkflowRun
		wantOK(t, get(t, s, "/workflows"), &runs)
		if len(runs) != 0 {
			t.Fatalf("refused workflows were recorded: %+v", runs)
		}
	})

	var sub WorkflowSubmitResponse
	wantOK(t, post(t, s, "/workflows", mediaJSON, string(body)), &sub)
	if sub.ID != id.String() || sub.Existing || sub.State != "running" {
		t.Fatalf("submit: %+v, want %s running", sub, id)
	}
	// The same workflow as a YAML document is the same workflow.
	wantOK(t, post(t, s, "/workflows", mediaYAML, doc), &sub)
	if sub.ID != id.String() || !sub.Existing {
		t.Fatalf("resubmit as YAML: %+v", sub)
	}
	var run WorkflowRun
	wantOK(t, get(t, s, "/workflows/"+id.String()), &run)
	if run.Name != "handlers" || len(run.Steps) != 2 || run.Steps[1].State != "waiting" || strings.Join(run.Steps[1].Needs, ",") != "a" {
		t.Fatalf("describe: %+v", run)
	}
	// ?after waits for a newer version: one that is already older answers at once.
	var again WorkflowRun
	wantOK(t, get(t, s, "/workflows/"+id.String()+"?after=0"), &again)
	if again.Version < 1 {
		t.Fatalf("after=0 answered version %d", again.Version)
	}
	wantError(t, get(t, s, "/workflows/"+id.String()+"?after=x"), http.StatusBadRequest, CodeBadRequest, "after=")
	var list []WorkflowRun
	wantOK(t, get(t, s, "/workflows"), &list)
	if len(list) != 1 || list[0].ID != id.String() {
		t.Fatalf("list: %+v", list)
	}
	wantError(t, get(t, s, "/workflows/"+absentCID(t)), http.StatusNotFound, CodeNotFound, "no workflow")

	wantOK(t, post(t, s, "/workflows/"+id.String()+"/cancel", mediaJSON, ""), &run)
	if run.State != "cancelled" || run.Steps[0].State != "cancelled" || run.Steps[1].State != "cancelled" {
		t.Fatalf("cancel: %+v", run)
	}
	wantError(t, post(t, s, "/workflows/"+id.String()+"/cancel", mediaJSON, ""), http.StatusConflict, CodeConflict, "already cancelled")
	// The workflow's block went to the node's blockstore (others can run
	// it by CID), and ?cid= runs it again here.
	wantOK(t, post(t, s, "/workflows?cid="+id.String(), mediaJSON, ""), &sub)
	if sub.ID != id.String() || !sub.Existing || sub.State != "running" {
		t.Fatalf("run by CID after cancel: %+v", sub)
	}
}
