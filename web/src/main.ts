// The page's entry point: loads the deployment's configuration, connects the
// wallet (checking its chain), signs in to the gateway, reads the account's
// roles and shows a view per role.

import './style.css';
import { App } from './app';
import { loadConfig, type Config } from './config';
import { describeError, WrongChainError } from './errors';
import { Gateway } from './gateway';
import { Indexer } from './indexer';
import { addr, fill, h, run, status } from './ui';
import { governanceView } from './views/governance';
import { organisationView } from './views/organisation';
import { patientView } from './views/patient';
import { closeLive, staffView } from './views/staff';
import { connect, provider, switchChain } from './wallet';

const root = document.querySelector<HTMLElement>('#app');

/** A view: a tab's label and what it draws. */
interface View {
  id: string;
  label: string;
  draw: (app: App, into: HTMLElement) => Promise<void> | void;
}

async function start(): Promise<void> {
  if (!root) return;
  const statusLine = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', id: 'status' });
  status.element = statusLine;
  const account = h('div', { class: 'account', id: 'account' });
  const nav = h('nav', { 'aria-label': 'Views', id: 'views' });
  const content = h('div', { id: 'content', tabindex: '-1' });
  fill(
    root,
    h('header', {}, h('h1', {}, 'MedVault'), account),
    statusLine,
    nav,
    content,
  );
  let config: Config;
  try {
    config = await loadConfig();
  } catch (error) {
    status.show(describeError(error), 'error');
    return;
  }
  const gateway = new Gateway(config);
  const indexer = new Indexer(config.indexerUrl);
  showConnect(config, gateway, indexer, account, nav, content);
}

/** The first screen: what MedVault is, and the connect button. */
function showConnect(config: Config, gateway: Gateway, indexer: Indexer, account: HTMLElement, nav: HTMLElement, content: HTMLElement): void {
  fill(nav);
  fill(account);
  const button = h('button', { type: 'button', id: 'connect' }, 'Connect wallet and sign in');
  const switchButton = h('button', { type: 'button', id: 'switch-chain', hidden: true }, `Switch to chain ${config.chainId}`);
  button.addEventListener('click', () => {
    void run(button, 'Waiting for your wallet…', async () => {
      switchButton.hidden = true;
      let wallet;
      try {
        wallet = await connect(config);
      } catch (error) {
        if (error instanceof WrongChainError) switchButton.hidden = false;
        throw error;
      }
      status.show('Sign the sign-in message in your wallet…');
      await gateway.signIn(wallet);
      const app = new App(config, wallet, gateway, indexer);
      await app.loadRoles();
      showApp(app, account, nav, content, () => showConnect(config, gateway, indexer, account, nav, content));
      return `Signed in as ${wallet.account}.`;
    });
  });
  switchButton.addEventListener('click', () => {
    void run(switchButton, 'Asking your wallet to switch…', async () => {
      await switchChain(provider(), config.chainId);
      switchButton.hidden = true;
      return 'Switched. Connect again.';
    });
  });
  fill(
    content,
    h(
      'section',
      { class: 'intro' },
      h('p', {}, 'Your medical records, encrypted in this browser before they leave it, with consent you control on chain.'),
      h('p', {}, 'Connect an Ethereum wallet to continue. Every action is a signature: you need no ETH.'),
      button,
      ' ',
      switchButton,
    ),
  );
  watchWallet(() => {
    gateway.signOut();
    closeLive();
    showConnect(config, gateway, indexer, account, nav, content);
    status.show('Your wallet changed account or network: sign in again.');
  });
}

let watching = false;
/** A changed account or chain ends the session. */
function watchWallet(onChange: () => void): void {
  if (watching || !window.ethereum?.on) return;
  watching = true;
  window.ethereum.on('accountsChanged', onChange);
  window.ethereum.on('chainChanged', onChange);
}

/** The views of the account's roles, as tabs. */
function viewsOf(app: App): View[] {
  const views: View[] = [];
  const patient = app.has('patient');
  const staff = app.has('staff');
  const organisation = app.has('organisation');
  if (app.governs) views.push({ id: 'governance', label: 'Organisations', draw: governanceView });
  if (patient || (!staff && !organisation && !app.governs)) views.push({ id: 'patient', label: patient ? 'My records' : 'Patient', draw: patientView });
  if (staff) views.push({ id: 'staff', label: 'Patients', draw: staffView });
  if (organisation) views.push({ id: 'organisation', label: 'Staff', draw: organisationView });
  if (!app.governs) views.push({ id: 'governance', label: 'Organisations', draw: governanceView });
  return views;
}

function showApp(app: App, account: HTMLElement, nav: HTMLElement, content: HTMLElement, signOut: () => void): void {
  const out = h('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  out.addEventListener('click', () => {
    app.gateway.signOut();
    app.keys.forget();
    closeLive();
    signOut();
    status.show('Signed out.');
  });
  const roles = app.roles.map((r) => String(r.role === 'staff' ? r.staffRole ?? 'staff' : r.role));
  if (app.governs) roles.unshift('governance');
  const shown = roles.filter((r) => !(app.governs && r === 'owner'));
  fill(account, h('span', {}, 'Signed in as '), addr(app.account), shown.length ? h('span', { class: 'roles' }, ` (${[...new Set(shown)].join(', ')})`) : null, ' ', out);
  const views = viewsOf(app);
  const tabs = views.map((view) => {
    const tab = h('button', { type: 'button', 'data-view': view.id, 'aria-pressed': 'false' }, view.label);
    tab.addEventListener('click', () => void open(view));
    return tab;
  });
  let current: View | undefined;
  const refresh = h('button', { type: 'button', id: 'refresh', class: 'refresh' }, 'Refresh');
  refresh.addEventListener('click', () => {
    if (current) void open(current);
  });
  fill(nav, ...tabs, refresh);
  const open = async (view: View) => {
    current = view;
    for (const tab of tabs) tab.setAttribute('aria-pressed', String(tab.dataset.view === view.id));
    fill(content, h('p', {}, 'Loading…'));
    try {
      const into = h('div', { class: 'view', id: `view-${view.id}` });
      await view.draw(app, into);
      fill(content, into);
    } catch (error) {
      fill(content, h('p', { class: 'error' }, describeError(error)));
    }
  };
  const first = views[0];
  if (first) void open(first);
}

void start();
