// chainrule playground — the page's entry point. Plain JavaScript modules, no build step, no
// libraries. Training happens on the server (in chainrule); the modules in js/ send settings and
// draw frames, one module per panel:
//
//   state.js       shared state and the message bus (on / emit / send)
//   connection.js  the websocket; error and closing banners
//   controls.js    toolbar, data column, tabs, keyboard; menus built from the hello message
//   frames.js      the 2-D tab's frames and loss history
//   boundary.js    the output picture      network.js  the network diagram
//   charts.js      loss / accuracy curves and gradient-size bars
//   mnist.js       the MNIST tab and its drawing pad
//   hints.js       plain-words hints when training goes wrong
//   url.js         the 2-D settings in the page's address (#...), restored on load
//   chain.js       the chain rule for a clicked weight   landscape.js  the error mountain
//   insides.js     inside the MNIST net                  lessons.js    "check yourself"
//
// A new panel is one more module: import { on } from "./js/state.js", subscribe to the messages
// it draws ("frame", "data", "draw", ...), and import it below.
import { connect } from "./js/connection.js";
import { wireControls } from "./js/controls.js";
import "./js/frames.js";
import { wireBoundary } from "./js/boundary.js";
import { wireNetwork } from "./js/network.js";
import "./js/charts.js";
import "./js/hints.js";
import "./js/url.js";
import { wirePad, drawPrediction } from "./js/mnist.js";
import { S, emit } from "./js/state.js";
import { wireChain } from "./js/chain.js";
import { wireLandscape } from "./js/landscape.js";
import { wireInsides } from "./js/insides.js";
import { wireLessons } from "./js/lessons.js";

// the page's state, for the browser console (and the browser tests): playground.frame.weights ...
window.playground = S;

wireControls();
wireBoundary();
wireNetwork();
wirePad();
wireChain();
wireLandscape();
wireLessons();
wireInsides();
drawPrediction(null);
emit("draw");
connect();
