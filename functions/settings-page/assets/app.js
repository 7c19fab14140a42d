// The settings page: who is signed in, then their tokens and their orgs.
import { api, NetworkError } from "./api.js";
import { renderOrgs } from "./orgs.js";
import { signInUrl } from "./session.js";
import { renderPats } from "./tokens.js";
import { $, setUpSecretPanel, showAlert } from "./ui.js";

async function start() {
  setUpSecretPanel();
  try {
    const account = await api("GET", "/v1/account");
    $("#whoami").textContent = `Signed in as ${account.user_id}`;
    await Promise.all([renderPats(account), renderOrgs(account)]);
  } catch (error) {
    if (error.status === 401) {
      $("#sign-in-link").href = signInUrl();
      $("#signed-out").hidden = false;
    } else {
      showAlert(error instanceof NetworkError ? error.message : `The page could not load: ${error.message}`);
    }
  } finally {
    $("#loading").hidden = true;
    document.body.dataset.ready = "true";
  }
}

start();
