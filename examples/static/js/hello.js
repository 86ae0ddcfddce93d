// Shows when the page was loaded, proof that the script arrived.
document.getElementById("greeting").textContent = "Loaded at " + new Date().toLocaleTimeString() + ".";
