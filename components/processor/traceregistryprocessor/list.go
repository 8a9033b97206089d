package traceregistryprocessor

// list is an intrusive doubly linked list of records, oldest at head.
type list struct {
	head, tail uint32
	n          int
}

func (r *registry) pushBack(l *list, i uint32) {
	rec := &r.recs[i]
	rec.prev, rec.next = l.tail, nilIdx
	if l.tail != nilIdx {
		r.recs[l.tail].next = i
	} else {
		l.head = i
	}
	l.tail = i
	l.n++
}

func (r *registry) unlink(l *list, i uint32) {
	rec := &r.recs[i]
	if rec.prev != nilIdx {
		r.recs[rec.prev].next = rec.next
	} else {
		l.head = rec.next
	}
	if rec.next != nilIdx {
		r.recs[rec.next].prev = rec.prev
	} else {
		l.tail = rec.prev
	}
	rec.prev, rec.next = nilIdx, nilIdx
	l.n--
}

func (r *registry) release(i uint32) {
	r.unrefRecord(&r.recs[i])
	delete(r.index, r.recs[i].id)
	r.recs[i] = record{next: r.free}
	r.free = i
}
