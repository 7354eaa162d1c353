// mocha --config test/tiers/policies.cjs: the policies tier (test/tiers/tiers.cjs says what it holds).
module.exports = require("./tiers.cjs").tier("policies");
