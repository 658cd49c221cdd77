// Filters for the findings: severity (several), incident, rule and text. The state lives in the
// URL hash (or query), e.g. #severity=high,critical&story=moonlight&q=api, so a link keeps it.
(function () {
  "use strict";
  var report = document.getElementById("report");
  var findings = Array.prototype.slice.call(document.querySelectorAll(".finding"));
  // Accepted (exempted, baselined) rows: the same filters apply, counted apart.
  var accepted = Array.prototype.slice.call(document.querySelectorAll("tr.accepted"));
  var acceptedVisible = document.getElementById("accepted-visible");
  var sevButtons = Array.prototype.slice.call(document.querySelectorAll("[data-filter-severity]"));
  var storyButtons = Array.prototype.slice.call(document.querySelectorAll("[data-filter-story]"));
  var story = document.getElementById("f-story");
  var rule = document.getElementById("f-rule");
  var q = document.getElementById("f-q");
  var visible = document.getElementById("visible");
  var none = document.getElementById("none");
  var state = { severity: [], story: "", rule: "", q: "" };

  function read(text) {
    var s = { severity: [], story: "", rule: "", q: "" };
    text.replace(/^[#?]/, "").split("&").forEach(function (pair) {
      if (!pair) { return; }
      var i = pair.indexOf("=");
      var key = decodeURIComponent(i < 0 ? pair : pair.slice(0, i));
      var value = i < 0 ? "" : decodeURIComponent(pair.slice(i + 1).replace(/\+/g, " "));
      if (key === "severity") {
        s.severity = value.split(",").filter(function (v) { return v; });
      } else if (key === "story" || key === "rule" || key === "q") {
        s[key] = value;
      }
    });
    return s;
  }

  function write() {
    var parts = [];
    if (state.severity.length) { parts.push("severity=" + state.severity.map(encodeURIComponent).join(",")); }
    ["story", "rule", "q"].forEach(function (k) {
      if (state[k]) { parts.push(k + "=" + encodeURIComponent(state[k])); }
    });
    return parts.join("&");
  }

  function matches(el) {
    var d = el.dataset;
    var severity = d.severity || d.level;
    return (state.severity.length === 0 || state.severity.indexOf(severity) >= 0) &&
      (!state.story || (" " + d.stories + " ").indexOf(" " + state.story + " ") >= 0) &&
      (!state.rule || d.rule === state.rule) &&
      (!state.q || d.search.indexOf(state.q.toLowerCase()) >= 0);
  }

  function apply() {
    var shown = 0;
    findings.forEach(function (el) {
      var ok = matches(el);
      el.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var acceptedShown = 0;
    accepted.forEach(function (el) {
      var ok = matches(el);
      el.hidden = !ok;
      if (ok) { acceptedShown += 1; }
    });
    if (acceptedVisible) {
      acceptedVisible.textContent = acceptedShown + " of " + accepted.length + " shown";
      acceptedVisible.dataset.visible = String(acceptedShown);
    }
    sevButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", String(state.severity.indexOf(b.dataset.filterSeverity) >= 0));
    });
    story.value = state.story;
    rule.value = state.rule;
    if (q.value !== state.q) { q.value = state.q; }
    visible.textContent = shown + " of " + findings.length + " shown";
    visible.dataset.visible = String(shown);
    report.dataset.visible = String(shown);
    none.hidden = shown > 0 || findings.length === 0;
  }

  function commit() {
    apply();
    var h = write();
    var url = location.pathname + location.search + (h ? "#" + h : "");
    try {
      history.replaceState(null, "", url);
    } catch (e) {
      // Some browsers refuse URL changes on file:// pages; the filters still work.
    }
  }

  sevButtons.forEach(function (b) {
    b.addEventListener("click", function () {
      var s = b.dataset.filterSeverity;
      var i = state.severity.indexOf(s);
      if (i >= 0) { state.severity.splice(i, 1); } else { state.severity.push(s); }
      commit();
    });
  });
  storyButtons.forEach(function (b) {
    b.addEventListener("click", function () {
      state.story = b.dataset.filterStory;
      commit();
      document.getElementById("findings").scrollIntoView({ behavior: "smooth" });
    });
  });
  story.addEventListener("change", function () { state.story = story.value; commit(); });
  rule.addEventListener("change", function () { state.rule = rule.value; commit(); });
  q.addEventListener("input", function () { state.q = q.value.trim(); commit(); });
  document.getElementById("f-clear").addEventListener("click", function () {
    state = { severity: [], story: "", rule: "", q: "" };
    commit();
  });
  window.addEventListener("hashchange", function () { state = read(location.hash); apply(); });

  state = read(location.hash.length > 1 ? location.hash : location.search);
  apply();
})();
