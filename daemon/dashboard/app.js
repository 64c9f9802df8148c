// The jqd dashboard (PROTOCOL.md 16). Placeholder until the page lands.
document.getElementById("app").textContent = "jqd";
