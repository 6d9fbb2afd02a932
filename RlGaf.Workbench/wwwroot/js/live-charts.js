// Live points for the run page's Plotly charts. The server hands each chart's new points over and
// returns at once; the browser draws them at its next animation frame, all charts in one frame and
// every point that arrived meanwhile in one redraw per chart. A busy or hidden tab therefore
// draws once per frame it actually shows, however many updates came in, instead of falling behind
// one redraw per update (10 tabs on 2 cores fell seconds behind that way).
window.rlgafLiveCharts = (() => {
  const pending = new Map(); // chart id -> Map(trace index -> {x: [], y: []})
  let scheduled = false;

  function flush() {
    scheduled = false;
    const batch = [...pending.entries()];
    pending.clear();
    for (const [id, traces] of batch) {
      const el = document.getElementById(id);
      if (!el || !Array.isArray(el.data) || !window.Plotly) continue; // the page moved on
      for (const [i, t] of traces) {
        const trace = el.data[i];
        if (!trace) continue;
        trace.x = (trace.x || []).concat(t.x);
        trace.y = (trace.y || []).concat(t.y);
      }
      // Plotly.react with a new data revision redraws what changed; extendTraces replots everything
      // (legend included) and measured about twice as slow per point here.
      el.layout.datarevision = (el.layout.datarevision || 0) + 1;
      try { window.Plotly.react(el, el.data, el.layout); }
      catch (e) { console.error(`live chart ${id}:`, e); }
    }
  }

  return {
    /** Queues points: x[k] and y[k] extend trace indices[k] of chart id. */
    extend(id, x, y, indices) {
      let traces = pending.get(id);
      if (!traces) pending.set(id, traces = new Map());
      indices.forEach((trace, k) => {
        let t = traces.get(trace);
        if (!t) traces.set(trace, t = { x: [], y: [] });
        t.x.push(...x[k]);
        t.y.push(...y[k]);
      });
      if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
    },
    /** Drops a chart's queued points: it is about to be redrawn from the server's full series. */
    clear(id) { pending.delete(id); },
  };
})();
