// The page's entry point: filled in by the dApp work (issue 8).
const app = document.querySelector<HTMLElement>('#app');
if (app) app.textContent = 'MedVault';
