// mocha --config test/tiers/pods.cjs: the pods tier (test/tiers/tiers.cjs says what it holds).
module.exports = require("./tiers.cjs").tier("pods");
