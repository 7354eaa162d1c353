// mocha --config test/tiers/cli.cjs: the cli tier (test/tiers/tiers.cjs says what it holds).
module.exports = require("./tiers.cjs").tier("cli");
