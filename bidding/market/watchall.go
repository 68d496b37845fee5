package market

// JobEvent is an event of one job, as WatchAll delivers it.
type JobEvent struct {
	Job   string `json:"job"`
	State State  `json:"state"`
	Event
}

// WatchAll returns a channel of the events of every job this node
// submitted, from now on, and a function that stops the watch and closes
// the channel. A watcher that does not keep up misses events (it is never
// waited for): it re-reads the jobs it cares about.
func (s *JobStore) WatchAll() (<-chan JobEvent, func()) {
	ch := make(chan JobEvent, 256)
	s.mu.Lock()
	if s.all == nil {
		s.all = map[chan JobEvent]struct{}{}
	}
	s.all[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.all[ch]; ok {
			delete(s.all, ch)
			close(ch)
		}
	}
}

// fanOutLocked sends j's fresh events to the watchers of all jobs; the
// caller holds s.mu.
func (s *JobStore) fanOutLocked(j *Job, fresh []Event) {
	for ch := range s.all {
		for _, e := range fresh {
			select {
			case ch <- JobEvent{Job: j.ID, State: j.State, Event: e}:
			default:
			}
		}
	}
}
