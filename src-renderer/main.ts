import '@fontsource-variable/inter/wght.css';
import 'virtual:motlab-theme.css';
import './styles.css';
import { mount } from 'svelte';
import App from './App.svelte';

const target = document.getElementById('app');
if (!target) throw new Error('#app is missing from index.html');
mount(App, { target });
