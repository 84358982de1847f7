package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/outfile"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// ReportRequest is what keyaudit report is asked for, as its flags or the
// config's report section give it.
type ReportRequest struct {
	// Run is a reconcile or audit run ID; "" the latest reconcile.
	Run string
	// Format is one of reports.ReportFormats.
	Format string
	// Records is what a csv report holds: findings (""), keys or
	// endpoints.
	Records string
	// Now is the report's date, RFC 3339; "" now.
	Now string
}

// Parse validates r and returns the run it names (0: the latest
// reconcile) and the report's date. Its errors name the flag.
func (r ReportRequest) Parse() (runID int64, now time.Time, err error) {
	if _, ok := reports.Renderers[r.Format]; !ok {
		return 0, now, fmt.Errorf("--format %q: want one of %s", r.Format, strings.Join(reports.ReportFormats, ", "))
	}
	switch r.Records {
	case "", reports.RecordsFindings, reports.RecordsKeys, reports.RecordsEndpoints:
	default:
		return 0, now, fmt.Errorf("--records %q: want findings, keys or endpoints", r.Records)
	}
	now = time.Now().UTC()
	if r.Now != "" {
		t, err := time.Parse(time.RFC3339, r.Now)
		if err != nil {
			return 0, now, fmt.Errorf("--now: %w", err)
		}
		now = t.UTC()
	}
	if r.Run != "" {
		if runID, err = strconv.ParseInt(r.Run, 10, 64); err != nil || runID <= 0 {
			return 0, now, fmt.Errorf("--run %q: not a run ID", r.Run)
		}
	}
	return runID, now, nil
}

// WriteOutput writes what fn writes to the file at path, as
// outfile.Write does: a regular file is replaced only once the report is
// complete; a device, a FIFO or /dev/stdout is written through, and a
// failed write is an error.
func WriteOutput(path string, fn func(io.Writer) error) error {
	return outfile.Write(path, 0o644, fn)
}

// LoadReport reads a report's records from the store: the reconcile run
// (runID, an audit run's reconcile stage, or the latest finished
// reconcile), its findings, and the input runs it recorded.
func LoadReport(ctx context.Context, st store.Store, runID int64) (*reports.Report, error) {
	var recon store.Run
	var audit *store.Run
	var stages []reports.Stage
	switch {
	case runID != 0:
		r, err := st.GetRun(ctx, runID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("--run %d: no such run", runID)
		}
		if err != nil {
			return nil, err
		}
		switch r.Kind {
		case "reconcile":
			recon = r
		case "audit":
			audit = &r
			var reconID int64
			err := st.Items(ctx, r.ID, "stage", func(it store.Item) error {
				var s Outcome
				if err := json.Unmarshal(it.Data, &s); err != nil {
					return fmt.Errorf("audit run %d: stage %q: %w", r.ID, it.Key, err)
				}
				if s.Stage == "reconcile" {
					reconID = s.RunID
				}
				stages = append(stages, reports.Stage{Name: s.Stage, RunID: s.RunID, Status: string(s.Status), Note: s.Note})
				return nil
			})
			if err != nil {
				return nil, err
			}
			if reconID == 0 {
				return nil, fmt.Errorf("audit run %d has no reconcile stage to report", r.ID)
			}
			if recon, err = st.GetRun(ctx, reconID); err != nil {
				return nil, fmt.Errorf("audit run %d: reconcile run %d: %w", r.ID, reconID, err)
			}
		default:
			return nil, fmt.Errorf("run %d is a %s run: report reads a reconcile or audit run", r.ID, r.Kind)
		}
	default:
		r, err := store.Latest(ctx, st, "reconcile", store.StatusComplete, store.StatusPartial)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("the store holds no finished reconcile run: run keyaudit reconcile (or keyaudit audit) first")
		}
		if err != nil {
			return nil, err
		}
		recon = r
	}

	rep := &reports.Report{}
	if err := records.Decode(ctx, st, recon.ID, store.KindFinding, &rep.Findings); err != nil {
		return nil, fmt.Errorf("read findings of run %d: %w", recon.ID, err)
	}
	// A reconcile records the estate it read beside its findings.
	for _, err := range []error{
		records.Decode(ctx, st, recon.ID, store.KindObservation, &rep.Observations),
		records.Decode(ctx, st, recon.ID, store.KindKey, &rep.Keys),
		records.Decode(ctx, st, recon.ID, store.KindCAA, &rep.CAA),
		records.Decode(ctx, st, recon.ID, store.KindSighting, &rep.Sightings),
		records.Decode(ctx, st, recon.ID, KindResolved, &rep.Resolved),
	} {
		if err != nil {
			return nil, fmt.Errorf("read run %d: %w", recon.ID, err)
		}
	}
	// What else changed in this reconcile: the findings it opened,
	// reopened or escalated (it resolved rep.Resolved).
	err := st.FindingEvents(ctx, "", func(e store.FindingEvent) error {
		if e.RunID == recon.ID && e.Event != store.EventResolved {
			if rep.Changes == nil {
				rep.Changes = map[string]string{}
			}
			rep.Changes[e.Fingerprint] = e.Event
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read finding events of run %d: %w", recon.ID, err)
	}
	var meta struct {
		Inputs []reconcile.SourceStatus `json:"inputs"`
	}
	_ = json.Unmarshal(recon.Meta, &meta)
	if len(rep.Observations)+len(rep.Keys)+len(rep.CAA)+len(rep.Sightings) == 0 {
		// A reconcile from before the estate view recorded only the runs
		// it read: read them.
		for _, in := range meta.Inputs {
			if in.RunID == 0 {
				continue
			}
			var err error
			switch in.Kind {
			case "scan":
				err = records.Decode(ctx, st, in.RunID, store.KindObservation, &rep.Observations)
			case "inventory":
				err = records.Decode(ctx, st, in.RunID, store.KindKey, &rep.Keys)
			case "caa":
				err = records.Decode(ctx, st, in.RunID, store.KindCAA, &rep.CAA)
			case "ct":
				err = records.Decode(ctx, st, in.RunID, store.KindSighting, &rep.Sightings)
			}
			if err != nil {
				return nil, fmt.Errorf("read run %d: %w", in.RunID, err)
			}
		}
	}
	if audit == nil {
		for _, in := range meta.Inputs {
			stages = append(stages, reports.Stage{Name: in.Kind, RunID: in.RunID, Status: in.Status, Note: in.Note})
		}
	}
	if audit == nil {
		stages = append(stages, reports.Stage{Name: "reconcile", RunID: recon.ID, Status: string(recon.Status), Note: recon.Note})
		rep.Run = reports.RunInfo{ID: recon.ID, Kind: recon.Kind, Group: recon.Group, Status: string(recon.Status),
			Started: recon.Started, Ended: recon.Ended, Note: recon.Note, Stages: stages}
		return rep, nil
	}
	// An audit writes its reports before it finishes: judge it by its
	// stages while it is still running.
	status := string(audit.Status)
	if audit.Status == store.StatusRunning {
		status = reports.StageComplete
		for _, s := range stages {
			if s.Status != reports.StageComplete && s.Status != reports.StageSkipped {
				status = reports.StagePartial
			}
		}
	}
	rep.Run = reports.RunInfo{ID: audit.ID, Kind: audit.Kind, Group: audit.Group, Status: status,
		Started: audit.Started, Ended: audit.Ended, Note: audit.Note, Stages: stages}
	return rep, nil
}
